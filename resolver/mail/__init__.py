"""Mail security on validated DNS: DANE, SMIMEA, OPENPGPKEY, SPF, DKIM, DMARC."""
