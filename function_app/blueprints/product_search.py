"""intent_product_search: the product_search branch, triggered by its queue; the logic is in branches/product_search.py."""
from branches import product_search
from core.branch_blueprint import branch_blueprint

bp = branch_blueprint(product_search)
