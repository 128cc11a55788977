import { Inject, Injectable } from '@nestjs/common';
import { publicBaseUrl } from '../../storage/storage.config';
import { DELIVERY_CONFIG, type DeliveryConfig } from './delivery.config';
import { UrlSigner } from './url-signer';

/** The path transform URLs live under. */
export const TRANSFORM_ROUTE = 'transform';
/** The signature segment of a URL that needs none (a preset by name). */
export const UNSIGNED = 'unsigned';

/**
 * Builds transform URLs: `<PUBLIC_BASE_URL>/transform/<signature>/<options>/<image id>`, signed
 * with the first URL signing key. The image id is the API's short id.
 */
@Injectable()
export class TransformUrls {
  private readonly base: string;

  constructor(
    @Inject(DELIVERY_CONFIG) config: DeliveryConfig,
    private readonly signer: UrlSigner,
  ) {
    this.base = `${publicBaseUrl(config)}/${TRANSFORM_ROUTE}`;
  }

  signed(imageId: string, options: string): string {
    return `${this.base}/${this.signer.sign(options, imageId)}/${options}/${imageId}`;
  }

  /** A configured preset by name, in a format (`auto` by default): valid without a signature. */
  preset(imageId: string, preset: string, format = 'auto'): string {
    return `${this.base}/${UNSIGNED}/p_${preset},f_${format}/${imageId}`;
  }
}
