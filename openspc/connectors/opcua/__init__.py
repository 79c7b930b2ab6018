"""OPC-UA on asyncua: client settings, browsing, and the subscription session."""
