"""RIVTA (Inera's service contracts): RegisterCertificate v3 for certificates and the shared
namespaces and element helpers that SendMessageToRecipient also uses.

Import the codec from ``gateway.formats.rivta.register_certificate``: this package's
``__init__`` stays empty so that importing the namespaces does not compile schemas.
"""
