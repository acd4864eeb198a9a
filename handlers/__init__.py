"""The conversations: the channel-neutral engine (`engine/`) and the channels that carry it
(`telegram/`, `messenger/`). Importing this package loads no framework."""
