"""Sign-in for every OneDoor HTTP API: who is calling, and what they may do where.

The staff web app signs people in and calls the services with a short-lived access token on
their behalf; partner departments and OneDoor's own jobs hold tokens too. A service only verifies:
its bootstrap puts ``load_token_keys(settings)[1]`` at ``app.state.auth_verifier``, each route asks
for ``Depends(require("case.read"))``, and once it knows the case's region it calls
``check_jurisdiction(principal, region, request=request)``.

- ``principals.py``: who is calling (``Principal``, ``Role``) and the place they answer for.
- ``tokens.py``: access tokens signed and verified, and the keys a process trusts.
- ``permissions.py``: which role may do what (``PERMISSIONS``).
- ``dependencies.py``: the FastAPI side: ``require``, ``check_jurisdiction``, logged refusals.

Passwords are the window's alone (``services/window/adapters/passwords.py``).
"""
