/** Types of eslint/layers.js, for the test that proves the rules bite. */
export declare const LAYERS: Readonly<Record<string, readonly string[]>>;
export declare const TYPE_ONLY: Readonly<Record<string, readonly string[]>>;
export declare function layerOf(file: string): string | null;
export declare const layersRule: unknown;
export declare const layersPlugin: { rules: Record<string, unknown> };
