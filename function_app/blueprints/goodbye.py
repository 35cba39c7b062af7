"""intent_goodbye: the goodbye branch on its queue; the logic is in branches/goodbye.py."""
from branches import goodbye
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(goodbye)
