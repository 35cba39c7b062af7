"""intent_faq: the faq branch on its queue; the logic is in branches/faq.py."""
from branches import faq
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(faq)
