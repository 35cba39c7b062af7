"""intent_fallback: the fallback branch on its queue; the logic is in branches/fallback.py."""
from branches import fallback
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(fallback)
