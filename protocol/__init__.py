"""The signed wire between validators and miners: Epistula v2 headers over HTTP."""
