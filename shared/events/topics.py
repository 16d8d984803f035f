"""The topic catalogue: every topic OneDoor uses, in one place.

Each topic is written by exactly one service. The record key is always the case id, so all of one
case's events on a topic land on one partition and stay in order.
"""

APPLICATIONS = "onedoor.applications"  # intake → verification, approval
VERIFICATIONS = "onedoor.verifications"  # verification → approval, intake
DECISIONS = "onedoor.decisions"  # approval → payment, intake, verification (its case workflow)
PAYMENTS = "onedoor.payments"  # payment → intake
REFERRALS = "onedoor.referrals"  # approval ↔ other departments (专项救助), → intake
MONITORING = "onedoor.monitoring"  # verification → audit, window: early warnings, discovery leads
# approval → audit and approval's own replicas: the bureau's published policy figures, in order
POLICY = "onedoor.policy"
DEAD_LETTER = "onedoor.dead-letter"  # any consumer, for events it could not process

ALL_TOPICS = (APPLICATIONS, VERIFICATIONS, DECISIONS, PAYMENTS, REFERRALS, MONITORING, POLICY,
              DEAD_LETTER)
