"""intent_human_handoff: the human_handoff branch on its queue; the logic is in branches/human_handoff.py."""
from branches import human_handoff
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(human_handoff)
