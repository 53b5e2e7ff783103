import { CEREMONY_SEARCH_ATTRIBUTES } from '@byok/temporal-dev';
import { describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../src/messages.js';

describe('search attributes', () => {
  it('the workflow upserts exactly what the dev server registers', () => {
    const upserted = Object.fromEntries(Object.values(SEARCH_ATTRIBUTES).map((k) => [k.name, k.type]));
    const registered = Object.fromEntries(
      Object.entries(CEREMONY_SEARCH_ATTRIBUTES).map(([name, type]) => [name, type.toUpperCase()]),
    );
    expect(upserted).toEqual(registered);
  });
});
