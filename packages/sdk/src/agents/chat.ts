import { AccordError, describeError } from '../errors';

/**
 * A small client for OpenAI-compatible chat endpoints (`POST <baseUrl>/chat/completions`): any hosted or
 * local server that speaks that API. Agents call it inside `ctx.sideEffect`, so a replay returns the
 * recorded answer instead of asking the model again.
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatClientOptions {
  /** e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1. Env: ACCORD_MODEL_BASE_URL. */
  baseUrl: string;
  /** Env: ACCORD_MODEL. */
  model: string;
  /** Sent as a bearer token; never logged. Env: ACCORD_MODEL_API_KEY. */
  apiKey?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

export interface ChatAnswer {
  content: string;
  model: string;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
}

export class ChatClient {
  constructor(private readonly options: ChatClientOptions) {
    try {
      const url = new URL(options.baseUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new AccordError(
        'CONFIG_INVALID',
        `model baseUrl must be an http(s) URL, got "${options.baseUrl}"`,
      );
    }
    if (!options.model) throw new AccordError('CONFIG_INVALID', 'model name is empty (ACCORD_MODEL)');
  }

  /** The client the environment describes: ACCORD_MODEL_BASE_URL, ACCORD_MODEL, ACCORD_MODEL_API_KEY. */
  static fromEnv(env: Record<string, string | undefined> = process.env): ChatClient {
    const baseUrl = env.ACCORD_MODEL_BASE_URL;
    const model = env.ACCORD_MODEL;
    if (!baseUrl || !model)
      throw new AccordError('CONFIG_INVALID', 'set ACCORD_MODEL_BASE_URL and ACCORD_MODEL to call a model');
    return new ChatClient({
      baseUrl,
      model,
      ...(env.ACCORD_MODEL_API_KEY ? { apiKey: env.ACCORD_MODEL_API_KEY } : {}),
    });
  }

  async complete(
    messages: ChatMessage[],
    options: { temperature?: number; maxTokens?: number } = {},
  ): Promise<ChatAnswer> {
    const url = `${this.options.baseUrl.replace(/\/$/, '')}/chat/completions`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: this.options.model,
          messages,
          temperature: options.temperature ?? 0,
          ...(options.maxTokens ? { max_tokens: options.maxTokens } : {}),
        }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new AccordError(
        'MODEL_CALL_FAILED',
        `model at ${url} is not reachable: ${describeError(error)}`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      // Rate limits and server errors are worth another try; a 4xx request error is not.
      const retriable = response.status === 429 || response.status >= 500;
      throw new AccordError(
        'MODEL_CALL_FAILED',
        `model at ${url} answered ${response.status}: ${text.slice(0, 300)}`,
        {
          retriable,
        },
      );
    }
    let body: {
      model?: string;
      choices?: { message?: { content?: string }; finish_reason?: string }[];
      usage?: { prompt_tokens?: number; completion_tokens?: number };
    };
    try {
      body = JSON.parse(text);
    } catch {
      throw new AccordError(
        'MODEL_CALL_FAILED',
        `model at ${url} answered with non-JSON: ${text.slice(0, 120)}`,
      );
    }
    const choice = body.choices?.[0];
    if (typeof choice?.message?.content !== 'string')
      throw new AccordError(
        'MODEL_CALL_FAILED',
        `model at ${url} answered without choices[0].message.content`,
      );
    return {
      content: choice.message.content,
      model: body.model ?? this.options.model,
      finishReason: choice.finish_reason ?? null,
      usage: body.usage
        ? { promptTokens: body.usage.prompt_tokens ?? 0, completionTokens: body.usage.completion_tokens ?? 0 }
        : null,
    };
  }
}
