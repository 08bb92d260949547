// An agent replica is a long-running service: load OpenTelemetry's driver instrumentations before the
// SDK loads kafkajs, pg and ioredis (see @accord/sdk/register). Other commands are short and skip them.
if (process.argv[2] === 'agent' && process.argv[3] === 'run') require('@accord/sdk/register');
