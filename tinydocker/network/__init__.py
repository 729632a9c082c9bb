"""Container networks: bridges, veth pairs, addresses, published ports."""
