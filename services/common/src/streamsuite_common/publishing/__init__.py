"""Publishing documents to Kafka, shared by the publisher and the web UI's Submit: the parser
(``formats``), the messages of the wire contract (``messages``) and the transactional producer
(``producer``)."""
