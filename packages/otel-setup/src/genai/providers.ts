/**
 * Which LLM API an upstream request speaks (from its path) and which provider serves it (from its host,
 * else from CCR's `provider,model` syntax, else from the API format). Provider names are the GenAI
 * semantic conventions' well-known values of `gen_ai.provider.name` where one exists.
 */

/** The wire formats the response parser understands. */
export type ApiFormat = 'anthropic' | 'openai' | 'openai_responses' | 'gemini';

/**
 * The API format of an upstream path, or undefined when it is not an LLM generation call (the only
 * requests whose bodies are ever looked at).
 */
export function apiFormatOf(path: string): ApiFormat | undefined {
  if (path.endsWith('/chat/completions')) return 'openai';
  if (path.endsWith('/messages')) return 'anthropic';
  if (path.endsWith(':streamGenerateContent') || path.endsWith(':generateContent')) return 'gemini';
  if (path.endsWith('/responses')) return 'openai_responses';
  return undefined;
}

/** Gemini names the model in the path: /v1beta/models/gemini-2.5-pro:streamGenerateContent. */
export function geminiModelOf(path: string): string | undefined {
  const m = /\/models\/([^/:]{1,200}):/.exec(path);
  return m ? m[1] : undefined;
}

/** `gen_ai.operation.name` for a format. */
export function operationOf(format: ApiFormat): string {
  return format === 'gemini' ? 'generate_content' : 'chat';
}

const BY_FORMAT: Record<ApiFormat, string> = {
  anthropic: 'anthropic',
  openai: 'openai',
  openai_responses: 'openai',
  gemini: 'gcp.gemini',
};

/** Host suffix → provider (the first match wins; more specific suffixes first). */
const HOSTS: Array<[string, string]> = [
  ['api.anthropic.com', 'anthropic'],
  ['openai.azure.com', 'azure.ai.openai'],
  ['services.ai.azure.com', 'azure.ai.inference'],
  ['api.openai.com', 'openai'],
  ['api.deepseek.com', 'deepseek'],
  ['openrouter.ai', 'openrouter'],
  ['generativelanguage.googleapis.com', 'gcp.gemini'],
  ['aiplatform.googleapis.com', 'gcp.vertex_ai'],
  ['api.groq.com', 'groq'],
  ['api.mistral.ai', 'mistral_ai'],
  ['api.x.ai', 'x_ai'],
  ['api.moonshot.ai', 'moonshot_ai'],
  ['api.moonshot.cn', 'moonshot_ai'],
  ['api.perplexity.ai', 'perplexity'],
  ['api.cohere.com', 'cohere'],
  ['api.cohere.ai', 'cohere'],
  ['amazonaws.com', 'aws.bedrock'],
  ['dashscope.aliyuncs.com', 'dashscope'],
  ['dashscope-intl.aliyuncs.com', 'dashscope'],
  ['open.bigmodel.cn', 'zhipu'],
  ['api.z.ai', 'zhipu'],
  ['api.siliconflow.cn', 'siliconflow'],
  ['api.siliconflow.com', 'siliconflow'],
  ['api.together.xyz', 'together'],
  ['api.fireworks.ai', 'fireworks'],
  ['api.minimax.io', 'minimax'],
  ['api.minimaxi.com', 'minimax'],
  ['ark.cn-beijing.volces.com', 'volcengine'],
];

/** CCR provider names (user-chosen, lower-cased) that mean a well-known provider. */
const ALIASES: Record<string, string> = {
  anthropic: 'anthropic',
  claude: 'anthropic',
  openai: 'openai',
  azure: 'azure.ai.openai',
  deepseek: 'deepseek',
  openrouter: 'openrouter',
  gemini: 'gcp.gemini',
  google: 'gcp.gemini',
  vertex: 'gcp.vertex_ai',
  vertexai: 'gcp.vertex_ai',
  groq: 'groq',
  mistral: 'mistral_ai',
  xai: 'x_ai',
  grok: 'x_ai',
  moonshot: 'moonshot_ai',
  kimi: 'moonshot_ai',
  perplexity: 'perplexity',
  cohere: 'cohere',
  bedrock: 'aws.bedrock',
  ollama: 'ollama',
};

/** Answers by host: a gateway calls few hosts, and the suffix scan allocates a string per suffix. */
const byHost = new Map<string, string | undefined>();

export function providerFromHost(host: string): string | undefined {
  if (byHost.has(host)) return byHost.get(host);
  const provider = scanHost(host);
  if (byHost.size < 256) byHost.set(host, provider);
  return provider;
}

function scanHost(host: string): string | undefined {
  const colon = host.lastIndexOf(':');
  const name = (colon > 0 && host.indexOf(']') < colon ? host.slice(0, colon) : host).toLowerCase();
  for (const [suffix, provider] of HOSTS) {
    if (name === suffix || name.endsWith('.' + suffix)) return provider;
  }
  if (host.endsWith(':11434')) return 'ollama';
  return undefined;
}

/** A CCR provider name as a provider: the well-known value for an alias, else the name itself (bounded). */
export function providerFromName(name: string): string {
  const l = name.trim().toLowerCase();
  return ALIASES[l] ?? l.slice(0, 64);
}

/** CCR's `provider,model` syntax split; a plain model has no provider. */
export function splitModel(model: string): { provider?: string; model: string } {
  const comma = model.indexOf(',');
  if (comma <= 0 || comma === model.length - 1) return { model };
  return { provider: model.slice(0, comma), model: model.slice(comma + 1) };
}

/** Best knowledge, in order: the upstream host, the CCR provider named by the client, the API format. */
export function resolveProvider(host: string, format: ApiFormat, ccrProvider: string | undefined): string {
  return providerFromHost(host) ?? (ccrProvider ? providerFromName(ccrProvider) : BY_FORMAT[format]);
}
