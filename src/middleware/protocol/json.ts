// What may travel as a call payload or an offer: plain JSON data, nothing language-bound.
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
