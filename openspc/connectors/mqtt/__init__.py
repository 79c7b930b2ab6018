"""MQTT and Sparkplug B: client construction, codecs (payloads, sparkplug), discovery and
preview connections. Nothing here touches the database."""
