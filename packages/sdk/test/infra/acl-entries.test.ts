import { aclEntries, agentAccess } from '@accord/sdk/ops';

const rows = (principal: string, access: Parameters<typeof aclEntries>[1]) =>
  aclEntries(principal, access).map(
    (e) => `${e.operation}:${e.resourceType}:${e.resourceName}:${e.resourcePatternType}:${e.principal}`,
  );

test('an agent gets read on what it consumes, write on its proposals, its group and that group’s dead letters', () => {
  const access = agentAccess({
    reads: ['commerce.order.events', 'commerce.order.events'],
    proposals: ['commerce.order.proposals'],
    emits: [],
    groups: ['agent-risk'],
  });
  expect(access).toEqual({
    read: ['commerce.order.events'],
    write: ['commerce.order.proposals'],
    groups: ['agent-risk'],
  });
  // kafkajs's enums: operation READ 3, WRITE 4, CREATE 5, DESCRIBE 8; resource TOPIC 2, GROUP 3;
  // pattern LITERAL 3, PREFIXED 4.
  expect(rows('accord_agent_risk', access)).toEqual([
    '3:2:commerce.order.events:3:User:accord_agent_risk',
    '8:2:commerce.order.events:3:User:accord_agent_risk',
    '4:2:commerce.order.proposals:3:User:accord_agent_risk',
    '8:2:commerce.order.proposals:3:User:accord_agent_risk',
    '3:3:agent-risk:3:User:accord_agent_risk',
    '8:3:agent-risk:3:User:accord_agent_risk',
    '5:2:agent-risk.dlq:3:User:accord_agent_risk',
    '4:2:agent-risk.dlq:3:User:accord_agent_risk',
    '8:2:agent-risk.dlq:3:User:accord_agent_risk',
  ]);
});

test("a group named by a prefix covers its dead-letter topics by the same prefix; '*' alone is every topic", () => {
  expect(rows('accord_archive', { read: ['*'], write: [], groups: ['ns.archive*'] })).toEqual([
    '3:2:*:3:User:accord_archive',
    '8:2:*:3:User:accord_archive',
    '3:3:ns.archive:4:User:accord_archive',
    '8:3:ns.archive:4:User:accord_archive',
    '5:2:ns.archive:4:User:accord_archive',
    '4:2:ns.archive:4:User:accord_archive',
    '8:2:ns.archive:4:User:accord_archive',
  ]);
});
