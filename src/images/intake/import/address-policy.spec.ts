import { parseIPv4, parseIPv6 } from '../../../common/net/ip-address';
import { addressBlockReason } from './address-policy';

describe(addressBlockReason.name, () => {
  it.each([
    // IPv4 public unicast
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.255',
    '192.0.3.0',
    '192.88.98.255',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '203.0.112.255',
    '223.255.255.255',
    // IPv6 global unicast
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '2001:4860:4860::8888',
    '2001:200::1',
    '2003::1',
    '3ffe::1',
    '2620:0:2d0:200::7',
    '2606:4700:4700:0:0:0:0:1111',
    '2A00:1450:4001:80B::200E',
  ])('allows %s', (ip) => {
    expect(addressBlockReason(ip)).toBeUndefined();
  });

  it.each([
    // IPv4
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this-network'],
    ['0.255.255.255', 'this-network'],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.0', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.1', 'ietf-protocol'],
    ['192.0.0.170', 'ietf-protocol'],
    ['192.0.2.1', 'documentation'],
    ['192.88.99.1', '6to4-relay'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['254.255.255.255', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    // IPv6 special addresses
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:0', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
    // IPv4 inside IPv6: refused whatever the embedded address
    ['::ffff:127.0.0.1', 'ipv4-mapped'],
    ['::ffff:7f00:1', 'ipv4-mapped'],
    ['::ffff:8.8.8.8', 'ipv4-mapped'],
    ['::FFFF:169.254.169.254', 'ipv4-mapped'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'ipv4-mapped'],
    ['::127.0.0.1', 'ipv4-compatible'],
    ['::8.8.8.8', 'ipv4-compatible'],
    ['::2', 'ipv4-compatible'],
    ['::ffff:0:8.8.8.8', 'ipv4-translated'],
    ['64:ff9b::7f00:1', 'nat64'],
    ['64:ff9b::8.8.8.8', 'nat64'],
    ['64:ff9b:1::1', 'nat64'],
    ['64:ff9b:1:ffff::1', 'nat64'],
    ['2002:7f00:1::', '6to4'],
    ['2002::1', '6to4'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
    ['2001::1', 'teredo'],
    ['2001:2::1', 'benchmarking'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:10::1', 'orchid'],
    ['2001:1f:ffff::1', 'orchid'],
    ['2001:20::1', 'orchid'],
    ['2001:2f::1', 'orchid'],
    ['2001:1::1', 'ietf-protocol'],
    ['2001:1ff::1', 'ietf-protocol'],
    ['100::', 'discard'],
    ['100::ffff:ffff:ffff:ffff', 'discard'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['feff::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['ff05::1:3', 'multicast'],
    // Outside 2000::/3
    ['100:0:0:1::', 'reserved'],
    ['1::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['5f00::1', 'reserved'],
    ['e000::1', 'reserved'],
    ['1:2:3:4:5:6:7::', 'reserved'],
    // Not plain IP addresses
    ['fe80::1%eth0', 'scoped'],
    ['2606:4700:4700::1111%1', 'scoped'],
    ['[::1]', 'invalid'],
    ['localhost', 'invalid'],
    ['example.com', 'invalid'],
    ['', 'invalid'],
    ['0177.0.0.1', 'invalid'],
    ['0x7f.0.0.1', 'invalid'],
    ['2130706433', 'invalid'],
    ['127.1', 'invalid'],
    ['1.2.3.04', 'invalid'],
    ['256.1.1.1', 'invalid'],
    [' 8.8.8.8', 'invalid'],
    ['1:2:3:4:5:6:7:8::', 'invalid'],
    ['1::2::3', 'invalid'],
  ])('refuses %s (%s)', (ip, reason) => {
    expect(addressBlockReason(ip)).toBe(reason);
  });
});

describe(parseIPv4.name, () => {
  it.each([
    ['0.0.0.0', [0, 0, 0, 0]],
    ['127.0.0.1', [127, 0, 0, 1]],
    ['255.255.255.255', [255, 255, 255, 255]],
  ])('parses %s', (text, bytes) => {
    expect(Array.from(parseIPv4(text) ?? [])).toEqual(bytes);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1.2.3.-1', '1.2.3.a', '0x7f.0.0.1'])(
    'refuses %j',
    (text) => {
      expect(parseIPv4(text)).toBeUndefined();
    },
  );
});

describe(parseIPv6.name, () => {
  const hex = (text: string) => Buffer.from(parseIPv6(text) ?? []).toString('hex');

  it.each([
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['::ffff:127.0.0.1', '00000000000000000000ffff7f000001'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['ABCD::EF', 'abcd00000000000000000000000000ef'],
  ])('parses %s', (text, bytes) => {
    expect(hex(text)).toBe(bytes);
  });

  it.each([
    '',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '12345::',
    'g::1',
    '1.2.3.4::',
    '::1.2.3.4:1',
    '::ffff:1.2.3',
    '::ffff:01.2.3.4',
    ':1::',
    '1:',
  ])('refuses %j', (text) => {
    expect(parseIPv6(text)).toBeUndefined();
  });
});
