import KafkaSink
