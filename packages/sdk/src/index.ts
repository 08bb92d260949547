/**
 * @accord/sdk: the public face for agent and service authors. Every export is listed on purpose; what is
 * not here is internal. Operators' verbs (lag, checkpoints, replay, rebind, dead letters, tail, topics)
 * are on the second face, `@accord/sdk/ops`.
 */

// One context per process: configuration, clients, telemetry; what runs is made from it.
export { type Accord, createAccord, type SomeAccord } from './accord';

// Agents: a checkpointed pipeline whose handler gets the agent's context (state, features with their
// staleness, history, contracts, propose and pushed decisions, journaled side effects).
export { type Agent, type AgentRunOptions, createAgent, defineAgent, RefusedError } from './agents/agent';
export { type ChatAnswer, ChatClient, type ChatClientOptions, type ChatMessage } from './agents/chat';
export { AGENT_CONTROLS_CHANNEL, type AgentControl, agentControl } from './agents/controls';
export { DECISIONS_CHANNEL, DecisionWaiter } from './agents/decisions';
export { type AgentManifest, loadManifest, manifestToYaml, parseManifest } from './agents/manifest';
export type {
  AgentContext,
  AgentDefinition,
  AgentEvent,
  ProposalRef,
  ProposeOptions as AgentProposeOptions,
} from './agents/types';
// Configuration and errors: one error base with stable codes.
export {
  type AccordOptions,
  ADMIN_PRINCIPAL,
  type ConfigSource,
  DEFAULTS,
  describeKafkaAuth,
  KAFKA_LOG_LEVELS,
  type KafkaLogLevel,
  type KafkaSasl,
  type ResolvedConfig,
  redactUrl,
  resolveConfig,
  validateBrokers,
  validateUrl,
} from './config';
export { ensureSecret, readSecret, type SecretKind, secretsDir, writeSecret } from './config/secrets';
export {
  SERVICE_FETCH_MAX_BYTES,
  SERVICE_FETCH_PROFILES,
  SERVICE_HEAP_PROFILES,
  SERVICE_NODE_FLAGS,
  serviceFetchMaxBytes,
  serviceNodeFlags,
} from './config/service-profile';
// Contracts: versioned business definitions, evaluated the same way in the SDK and in SQL.
export {
  type Contract,
  ContractStore,
  type Expr,
  evaluate,
  type GoldenCaseResult,
  parseContractRef,
  runGoldenCases,
} from './contracts';
export {
  AccordError,
  type AccordErrorCode,
  type AccordErrorOptions,
  asUnavailable,
  ConfigError,
  DecodeError,
  describeError,
  ERROR_CODES,
  InvalidSchemaError,
  isAccordError,
  RegistryError,
  SchemaValidationError,
  StackError,
  UnavailableError,
  UsageError,
} from './errors';
export {
  type AnyEvents,
  type CatalogDefinition,
  defineCatalog,
  domainOf,
  EventCatalog,
  type EventData,
  type EventName,
  PLATFORM_CATALOG,
  type PlatformTypes,
  type SchemaSource,
  type SomeCatalog,
  type TypeMap,
  type ValidationIssue,
} from './events/catalog';
// Events: the publisher, topic names, topics as code, an entity's history.
export { type HistoryEvent, type HistoryQuery, history } from './events/history';
export {
  EventPublisher,
  HEADERS,
  type PublishedEvent,
  type PublishedRecord,
  type PublisherOptions,
  PublishIncompleteError,
  type PublishItem,
  type PublishOptions,
  type SomePublisher,
} from './events/publisher';
export {
  deadLetterTopic,
  EVENTS_TOPIC_PATTERN,
  eventsTopic,
  eventsTopicPattern,
  namespacedGroup,
  proposalsTopic,
  topicNamespace,
} from './events/topics';
export {
  applyTopics,
  loadTopicDeclarations,
  type TopicApplyResult,
  type TopicDeclaration,
} from './events/topics-as-code';
// Features: views computed once, read with their staleness.
export {
  createFeaturePipeline,
  type FeaturePipelineOptions,
  FeaturePipelines,
  FeatureReader,
  type FeatureReaderOptions,
  featureGroup,
} from './features';
export { applyCommands, type FeatureResult, type FeatureValue } from './features/store';
export {
  AGGREGATIONS,
  type Aggregation,
  bucketMs,
  bucketsAt,
  defineFeatureView,
  type FeatureView,
  type FeatureWindow,
  stateKey,
  viewId,
} from './features/views';
// Ids derived from their parts: work done again gets the same ids (idempotent writes and events).
export { deterministicId } from './ids';
// Infrastructure: client factories, health, migrations, services, retries.
export {
  connectIfIdle,
  consumerTimings,
  createKafka,
  createPgPool,
  createRedis,
  type RedisClientOptions,
} from './infra/clients';
export { fetchLogIdentity, type LogIdentity, type TopicIdentity } from './infra/kafka-metadata';
export { isConnectionError, isRetriableTransactionError, SQLSTATE, sqlState } from './infra/pg-errors';
export { backoffMs, isTransient, pollUntil, withRetry } from './infra/retry';
export type { Sql, SqlClient, SqlPool, SqlResult } from './infra/sql';
export { inTransaction } from './infra/transaction';
// Owners and proposals: the single writer of each entity type.
export {
  loadSigningKey,
  type ProposerCheck,
  ProposerKeys,
  registerAgentKey,
  SIGNATURE_HEADER,
  signProposal,
} from './owners/identity';
export { relayOutbox, startOutboxRelay } from './owners/outbox';
export { defineOwner } from './owners/owner';
export { awaitDecision, type OwnerDecision, type ProposeOptions, propose } from './owners/propose';
export { addAgentRole, grantCheckpointGroups } from './owners/roles';
export { commutes, outranks } from './owners/rules';
export type { DecideContext, EntityState, OwnerOptions, Proposal, Verdict } from './owners/types';
// Pipelines: checkpointed consumer groups.
// The checkpoint table itself, for tests and tools that inspect positions (pipelines own the writes).
export {
  type CheckpointRow,
  CheckpointStore,
  type CheckpointType,
  type Incident,
  type IncidentKind,
  type IncidentRow,
  type LogRef,
} from './pipelines/checkpoints';
export {
  classifyFailure,
  errorCodeOf,
  type FailureDecision,
  FencedError,
  RetryableError,
  TerminalError,
} from './pipelines/errors';
export type { OutOfRangePolicy } from './pipelines/log-check';
export { createPipeline, Pipeline } from './pipelines/pipeline';
export { parseStartPosition, type StartPosition } from './pipelines/positions';
export {
  DLQ_REPLAY_HEADER,
  type HandlerContext,
  type PipelineEvent,
  type PipelineHandler,
  type PipelineMode,
  type PipelineOptions,
} from './pipelines/types';
export { type ClosedWindow, defineWindow, type WindowContext, type WindowOptions } from './pipelines/windows';
// Schemas: serde, the registry client, compatibility, the catalog and codegen.
export { type AvroJson, type ParsedSchema, parseAvroSchema, stableStringify } from './schemas/canonical';
export {
  COMPATIBILITY_MODES,
  type CompatibilityMode,
  type CompatibilityResult,
  checkCompatibility,
  isCompatibilityMode,
  type PreviousVersion,
  REPLAYABLE_DEFAULT_MODE,
  readIssues,
} from './schemas/compatibility';
export {
  EXPORT_FORMAT,
  type ExportedVersion,
  exportRegistry,
  type ImportResult,
  importRegistry,
  type RegistryExport,
} from './schemas/migrate';
export {
  REGISTRY_CONTENT_TYPE,
  type RegisteredSchema,
  RegistryHttpClient,
  type RegistryMode,
  type SchemaReference,
  type SubjectVersion,
} from './schemas/registry-client';
export { AvroSerde, type Decoded, MAGIC_BYTE, readWireHeader, type SerdeOptions } from './schemas/serde';
// The platform's own records (generated from schemas/platform).
export type {
  ChangeProposal,
  DeadLetter,
  Decision,
  DecisionOutcome,
  EventEnvelope,
} from './schemas/types.generated';
export {
  type RunningService,
  refuseSuperuser,
  runService,
  type ServiceContext,
  type ServiceDefinition,
  serviceDatabaseUrl,
  untilSignal,
} from './service/run';
// Telemetry: the seam for logs, metrics and tracing.
export { Histogram } from './telemetry/histogram';
export { createLogger, defaultLogger, type Logger, type LoggerOptions } from './telemetry/log';
export { meterTelemetry } from './telemetry/metrics';
export {
  currentOpenTelemetry,
  type OpenTelemetry,
  type OpenTelemetryOptions,
  openTelemetryFor,
  startOpenTelemetry,
} from './telemetry/otel';
export {
  type BatchContext,
  type HandleContext,
  type Interceptor,
  intercept,
  type LifecycleEvent,
  type LifecycleListener,
  Telemetry,
} from './telemetry/seam';
export { ATTR, extractTrace, injectTrace, inSpan, traceDeliveries } from './telemetry/tracing';
// Validation of options and files: errors that name the field.
export { formatIssues, parseOptions } from './validation';
