import { consoleContentSecurityPolicy, httpOrigin } from './console-csp';

describe(consoleContentSecurityPolicy.name, () => {
  const directives = (policy: string) =>
    new Map(
      policy.split('; ').map((directive) => {
        const [name, ...values] = directive.split(' ');
        return [name, values] as const;
      }),
    );

  it('allows scripts, styles and API calls from the service only, and nothing inline', () => {
    const policy = directives(consoleContentSecurityPolicy([]));
    expect(policy.get('default-src')).toEqual(["'none'"]);
    expect(policy.get('script-src')).toEqual(["'self'"]);
    expect(policy.get('style-src')).toEqual(["'self'"]);
    expect(policy.get('connect-src')).toEqual(["'self'"]);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    expect(consoleContentSecurityPolicy([])).not.toContain('unsafe');
  });

  it('allows images from the service, the origins given (once each), and local previews', () => {
    const policy = directives(
      consoleContentSecurityPolicy([
        'http://localhost:3000',
        'https://res.cloudinary.com',
        'http://localhost:3000',
      ]),
    );
    expect(policy.get('img-src')).toEqual([
      "'self'",
      'http://localhost:3000',
      'https://res.cloudinary.com',
      'data:',
      'blob:',
    ]);
  });
});

describe(httpOrigin.name, () => {
  it.each([
    [
      'https://bucket.s3.eu-west-1.amazonaws.com/products/a/original.jpg?X-Amz-Signature=1',
      'https://bucket.s3.eu-west-1.amazonaws.com',
    ],
    ['http://127.0.0.1:9000/bucket/key.webp', 'http://127.0.0.1:9000'],
    ['https://images.example.com', 'https://images.example.com'],
  ])('%s → %s', (url, origin) => {
    expect(httpOrigin(url)).toBe(origin);
  });

  it.each(['not a url', 'data:image/png;base64,AAAA', "javascript:alert('x')"])(
    'is undefined for %s',
    (url) => {
      expect(httpOrigin(url)).toBeUndefined();
    },
  );
});
