"""The local stand-ins for the services a real platform talks to, each a program of its own that
`deplat local up` starts (deplat.local.services declares them, deplat.local.stack runs them):
moto with the EMR Serverless stand-in (moto_launcher, emr_serverless), Salesforce's REST API
(salesforce_server), Snowflake over fakesnow (snowflake_server) and a Kafka broker (kafka_broker).
PostgreSQL is the real server. Nothing on the cloud path imports them."""
