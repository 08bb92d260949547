import type { KafkaSasl } from '../config';

// Requests kafkajs does not implement (Metadata v12 for topic ids, AlterUserScramCredentials) are encoded
// by their callers and sent here over a kafkajs broker connection, which does the SASL handshake. kafkajs
// 2.2.4 is frozen (no release since 2023), so these internals do not move under us.
const Broker = require('kafkajs/src/broker');
const ConnectionPool = require('kafkajs/src/network/connectionPool');
const socketFactory = require('kafkajs/src/network/socketFactory');
const { createLogger, LEVELS } = require('kafkajs/src/loggers');
const Encoder = require('kafkajs/src/protocol/encoder');

export interface RawRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  /**
   * What follows kafkajs's request header v1 (api key, version, correlation id, client id): for a flexible
   * version, the header's tagged fields first, then the body.
   */
  body: Buffer;
  clientId: string;
  timeoutMs: number;
}

/**
 * Sends one request to `broker` (host:port) and returns the response after its correlation id (for a
 * flexible version, the response header's tagged fields come first).
 */
export async function sendRaw(
  broker: string,
  sasl: KafkaSasl | undefined,
  request: RawRequest,
): Promise<Buffer> {
  const split = broker.lastIndexOf(':');
  const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });
  const connectionPool = new ConnectionPool({
    host: broker.slice(0, split).replace(/^\[|\]$/g, ''),
    port: Number(broker.slice(split + 1)),
    logger,
    socketFactory: socketFactory(),
    sasl: sasl ?? null,
    clientId: request.clientId,
    connectionTimeout: Math.min(request.timeoutMs, 3000),
    requestTimeout: request.timeoutMs,
  });
  const connection = new Broker({ connectionPool, logger, allowAutoTopicCreation: false });
  try {
    await connection.connect();
    return await connection.connectionPool.send({
      request: {
        apiKey: request.apiKey,
        apiVersion: request.apiVersion,
        apiName: request.apiName,
        encode: async () => new Encoder().writeBuffer(request.body),
      },
      response: { decode: async (payload: Buffer) => payload, parse: async (payload: Buffer) => payload },
      requestTimeout: request.timeoutMs,
    });
  } finally {
    await connection.disconnect().catch(() => {});
  }
}
