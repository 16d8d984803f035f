# One image for every OneDoor service; the command picks which (deploy/compose.yaml,
# deploy/k8s/):
#   docker run IMAGE serve intake        (verification, approval, payment, audit, window)
#   docker run IMAGE migrate             (every service's migrations, and nothing else)
# Settings come from ONEDOOR_* variables and, for secrets, from files in ONEDOOR_SECRETS_DIR
# (shared/settings.py). Every service listens on port 8000 inside its container.
FROM python:3.11-slim

# MALLOC_ARENA_MAX: two malloc arenas, not one per thread, so that memory freed by the thread
# pools is reused rather than held (deploy/child_environment.py says what it saved).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ONEDOOR_DATA_DIR=/var/lib/onedoor

WORKDIR /app
# The dependencies first, in a layer of their own that a change of code does not rebuild.
COPY pyproject.toml requirements.lock ./
RUN pip install -r requirements.lock
COPY shared shared
COPY services services
COPY deploy deploy
# Editable, so that the code runs from /app: the migrations, templates and static files are not
# Python packages, and a wheel would leave them behind.
RUN pip install --no-deps -e . \
    && groupadd --system --gid 10001 onedoor \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent onedoor \
    && mkdir -p /var/lib/onedoor && chown onedoor /var/lib/onedoor

USER 10001:10001
EXPOSE 8000
# Liveness only: whether the process answers. Readiness (/health/ready) is what compose's
# depends_on and Kubernetes' readinessProbe ask before sending traffic.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
ENTRYPOINT ["onedoor"]
CMD ["serve", "intake"]
