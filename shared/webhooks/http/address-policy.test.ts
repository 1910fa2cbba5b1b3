import { describe, expect, it } from 'vitest';
import { AddressPolicy } from './address-policy.ts';

// Pure classification, no sockets: public addresses can be judged here without being dialled.
describe('AddressPolicy', () => {
  const policy = new AddressPolicy();

  it('lets public unicast addresses through', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2a00:1450::1']) {
      expect(policy.refusal('receiver.example', address), address).toBeUndefined();
    }
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['100.100.100.200', 'carrierGradeNat'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'reserved'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
    ['2002:a9fe:a9fe::1', '6to4'],
    ['2001:0:4136:e378::1', 'teredo'],
    ['::a9fe:a9fe', 'non-global IPv6'],
  ])('refuses %s (%s)', (address, range) => {
    expect(policy.refusal('receiver.example', address)).toEqual({
      hostname: 'receiver.example',
      address,
      range,
    });
  });

  it('judges an IPv4-mapped IPv6 address as the IPv4 address it connects to', () => {
    expect(policy.refusal('h', '::ffff:10.0.0.1')).toMatchObject({
      address: '10.0.0.1',
      range: 'private',
    });
    expect(policy.refusal('h', '::ffff:808:808')).toBeUndefined();
  });

  it('refuses configured ranges on top of the defaults, IPv4-mapped ones included', () => {
    const strict = new AddressPolicy({
      extraBlockedRanges: ['8.8.8.0/24', '2606:4700::/32', '1.1.1.1'],
    });

    expect(strict.refusal('h', '8.8.8.8')).toMatchObject({ range: '8.8.8.0/24' });
    expect(strict.refusal('h', '::ffff:8.8.4.4')).toBeUndefined();
    expect(strict.refusal('h', '::ffff:8.8.8.9')).toMatchObject({ range: '8.8.8.0/24' });
    expect(strict.refusal('h', '2606:4700::6810:84e5')).toMatchObject({ range: '2606:4700::/32' });
    expect(strict.refusal('h', '1.1.1.1')).toMatchObject({ range: '1.1.1.1/32' });
  });

  it('allows exactly what the allow-list names: addresses, ranges or host names', () => {
    const allowing = new AddressPolicy({
      allowList: ['127.0.0.1', '10.8.0.0/16', 'Receiver.Internal'],
    });

    expect(allowing.refusal('h', '127.0.0.1')).toBeUndefined();
    expect(allowing.refusal('h', '::ffff:127.0.0.1')).toBeUndefined();
    expect(allowing.refusal('h', '127.0.0.2')).toMatchObject({ range: 'loopback' });
    expect(allowing.refusal('h', '10.8.3.4')).toBeUndefined();
    expect(allowing.refusal('h', '10.9.0.1')).toMatchObject({ range: 'private' });
    expect(allowing.refusal('receiver.internal.', '10.9.0.1')).toBeUndefined();
    expect(allowing.refusal('other.internal', '10.9.0.1')).toMatchObject({ range: 'private' });
  });

  it('fails at construction on a malformed range, not at the first delivery', () => {
    expect(() => new AddressPolicy({ extraBlockedRanges: ['10.0.0.0/33'] })).toThrow();
    expect(() => new AddressPolicy({ extraBlockedRanges: ['internal.example'] })).toThrow(
      /not an address or CIDR/,
    );
  });
});
