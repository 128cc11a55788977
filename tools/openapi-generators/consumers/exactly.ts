/** `true` only when A and B are the same type (not merely assignable, and never `unknown`). */
export type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
