"""intent_order_status: the order_status branch on its queue; the logic is in branches/order_status.py."""
from branches import order_status
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(order_status)
