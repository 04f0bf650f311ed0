"""One run of the stack: the function every front door calls, and its report."""
