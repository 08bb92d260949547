import { serviceAccess } from '@accord/sdk/ops';
import { ARCHIVE_GROUP } from '../src/archive';

// The main job found it: the archive's ACLs named groups archive*, its default group is accord-archive.
test("the archive's Kafka principal may use the archive's default group, and not an owner's or an agent's", () => {
  const covers = (group: string) =>
    serviceAccess('accord_archive').groups.some((g) =>
      g.endsWith('*') ? group.startsWith(g.slice(0, -1)) : g === group,
    );
  expect(covers(ARCHIVE_GROUP)).toBe(true);
  expect(covers('owner-order')).toBe(false);
  expect(covers('agent-risk')).toBe(false);
});
