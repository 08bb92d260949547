/**
 * @accord/reference: Accord's reference domains, built on the SDK the way a user's domain is: the
 * generated schema types and catalog, the feature views, the owners' priority order.
 */

export { COMMERCE_AGENTS } from './agents/commerce';
export { referenceCatalog } from './catalog';
export { anomalyId, type Baseline, type DetectOptions, detect, errorsOf, type Verdict } from './logs/detect';
export { LOG_LEVELS, LogLineError, type ParsedLine, parseLogLine } from './logs/parse';
export {
  BUNDLED_SAMPLE_DIR,
  BUNDLED_SAMPLE_MINUTES,
  BUNDLED_SAMPLE_SEED,
  generateLogSample,
  type Incident,
  type LogSample,
  type LogSampleOptions,
  SAMPLE_SERVICES,
  SAMPLE_START,
} from './logs/sample';
export {
  count,
  type FoldedRecord,
  fold,
  newFold,
  type ServiceFold,
  SUMMARY_LOGICS,
  type Summary,
  type SummaryLogic,
  summarize,
  summaryId,
  template,
  type WindowFold,
} from './logs/summarize';
export {
  DISCOUNT_ESCALATION_PERCENT,
  DISCOUNT_LIMIT_PERCENT,
  decideCustomer,
  decideOrder,
  decidePayment,
  decideStockItem,
  REFERENCE_OWNERS,
} from './owners';
export { REFERENCE_PRIORITY } from './rules';
export { type AuditResult, audit, type Contradiction, type ContradictionKind } from './scenario/auditor';
export { type AgentFigures, formatReport, measure, type Report, reportHtml } from './scenario/report';
export { generateTraffic, seeded, type TrafficOptions, type TrafficResult } from './scenario/traffic';
export type * from './schemas.generated';
export { EVENT_ENTITY_TYPES, SCHEMAS } from './schemas.generated';
export { COMMERCE_VIEWS } from './views';
