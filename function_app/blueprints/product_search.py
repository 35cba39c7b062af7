"""intent_product_search: the product_search branch on its queue; logic in branches/product_search.py."""
from branches import product_search
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(product_search)
