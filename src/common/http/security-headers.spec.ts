import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { helmetEffect, securityHeaders } from './security-headers';

/** A response of Node's own, as a request's is before anything is written. */
function freshResponse(): ServerResponse {
  return new ServerResponse(new IncomingMessage(new Socket()));
}

describe('helmetEffect', () => {
  it("sets on a response the very headers helmet's middleware sets, in its order", () => {
    const byHelmet = freshResponse();
    byHelmet.setHeader('X-Powered-By', 'something');
    securityHeaders(byHelmet.req, byHelmet, () => undefined);

    const byEffect = freshResponse();
    byEffect.setHeader('X-Powered-By', 'something');
    const { set, removed } = helmetEffect();
    for (const name of removed) byEffect.removeHeader(name);
    for (const [name, value] of set) byEffect.setHeader(name, value);

    expect(byEffect.getHeaderNames()).toEqual(byHelmet.getHeaderNames());
    expect(byEffect.getHeaders()).toEqual(byHelmet.getHeaders());
    expect(byEffect.getHeader('x-powered-by')).toBeUndefined();
    expect(byEffect.getHeader('strict-transport-security')).toBe(
      'max-age=31536000; includeSubDomains',
    );
  });
});
