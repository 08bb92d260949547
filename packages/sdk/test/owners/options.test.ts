import { createFeaturePipeline, defineOwner } from '@accord/sdk';

test("an owner's options are checked at construction, each bad one named", () => {
  expect(() => defineOwner({ entityType: 'Order!', decide: 'yes', pool: undefined } as never)).toThrow(
    new RegExp(
      [
        'invalid options of the Order! owner: ',
        'option entityType: must be a lower-case entity type name, e.g. order \\(got "Order!"\\); ',
        'option decide: must be a function \\(got "yes"\\); ',
        'option pool: must be a Postgres pool \\(as the owner role\\)',
      ].join(''),
    ),
  );
  expect(() =>
    defineOwner({
      entityType: 'order',
      decide: () => ({ outcome: 'REJECTED', reason: 'x' }),
      pool: {},
    } as never),
  ).toThrow(/owner of order: give option catalog \(to name its proposals topic\) or option topic/);
  expect(() =>
    defineOwner({
      entityType: 'order',
      topic: 'x.order.proposals',
      decide: () => ({ outcome: 'REJECTED', reason: 'x' }),
      pool: {},
      partitionsAtOnce: 0,
    } as never),
  ).toThrow(/option partitionsAtOnce: .*(>=1|at least 1|too small)/i);
});

test("a feature pipeline's options are checked before any client is made", () => {
  expect(() => createFeaturePipeline({ views: [] })).toThrow(
    /invalid feature pipeline options: option views: must list at least one view/,
  );
  expect(() => createFeaturePipeline({ views: [{ name: 'n', version: 1 }] as never, group: 'a b' })).toThrow(
    /option group: must be letters, digits/,
  );
});
