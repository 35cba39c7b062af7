"""The pipeline's queue names. Storage queue names allow lower-case letters, digits and single
hyphens; a queue's poison queue is `<queue>-poison`, as the Functions host names it."""

TURNS_INCOMING = "turns-incoming"
TURNS_OUTGOING = "turns-outgoing"
MAX_DEQUEUE_COUNT = 5  # host.json's maxDequeueCount: the attempt after which a message is parked


def queue_for(branch: str) -> str:
    """The queue of an intent branch: `intent-<branch>`."""
    return "intent-" + branch.replace("_", "-")


def poison_queue(queue: str) -> str:
    return f"{queue}-poison"
