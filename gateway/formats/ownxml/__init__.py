"""The gateway's own XML documents (SIP, return-to-work plan, §4 notification).

One binding (``binding.py``) maps every canonical model to its schema in ``schemas/``; each
kind's module only names its model, namespace, root element and schema.
"""
