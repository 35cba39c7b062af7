"""intent_greeting: the greeting branch on its queue; the logic is in branches/greeting.py."""
from branches import greeting
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(greeting)
