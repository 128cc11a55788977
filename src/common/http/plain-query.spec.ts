import type { ArgumentMetadata } from '@nestjs/common';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { MaxLength } from './max-length';
import { CursorQueryDto } from '../pagination/cursor-query.dto';
import { PageQueryDto } from '../pagination/page.dto';
import { GalleryQueryDto } from '../../images/dto/gallery.dto';
import { readPlainQuery } from './plain-query';
import { createValidationPipe } from './validation';

class RequiredInt {
  @Type(() => Number)
  @IsInt()
  page!: number;
}

class WithEnum {
  @IsOptional()
  @IsIn(['a', 'b'])
  sort?: string;
}

class WithoutType {
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(9)
  page?: number;
}

class Transformed {
  @IsOptional()
  @Transform(({ value }: { value: string }) => `${value}!`)
  @IsString()
  @MaxLength(5)
  name?: string;
}

const pipe = createValidationPipe();
const asQuery = (metatype: unknown): ArgumentMetadata =>
  ({ type: 'query', metatype, data: undefined }) as ArgumentMetadata;

/** What the full pipe (class-transformer, class-validator) makes of the query: the DTO or an error. */
async function throughPipe(metatype: unknown, query: object): Promise<unknown> {
  try {
    return await pipe.transform({ ...query }, asQuery(metatype));
  } catch (error) {
    return error;
  }
}

const QUERIES: Record<string, unknown>[] = [
  {},
  { page: '1' },
  { page: '2', per_page: '10' },
  { page: '007', per_page: '500' },
  { page: '100000' },
  { page: '100001' },
  { page: '0' },
  { page: '' },
  { page: '1.5' },
  { page: '-1' },
  { page: '1e3' },
  { page: ' 2' },
  { page: '0x10' },
  { page: ['1', '2'] },
  { per_page: '100' },
  { per_page: '101' },
  { per_page: '501' },
  { limit: '20' },
  { limit: '0' },
  { limit: '101' },
  { cursor: 'abc' },
  { cursor: '' },
  { cursor: 'x'.repeat(200) },
  { cursor: 'x'.repeat(201) },
  { cursor: '😀'.repeat(100) },
  { cursor: '😀'.repeat(150) },
  { cursor: ['a'] },
  { cursor: 'abc', per_page: '10', page: '3' },
  { unknown: '1' },
  { page: '1', unknown: '1' },
];

describe(readPlainQuery.name, () => {
  it.each([GalleryQueryDto, PageQueryDto, CursorQueryDto])(
    'reads %p as the validation pipe does, or leaves the query to it',
    async (type) => {
      let read = 0;
      for (const query of QUERIES) {
        const direct = readPlainQuery(type, { ...query });
        const piped = await throughPipe(type, query);
        if (direct === undefined) continue;
        read++;
        expect(piped).toBeInstanceOf(type);
        expect(direct).toBeInstanceOf(type);
        expect({ query, dto: direct }).toEqual({ query, dto: piped });
        // The getters of the class (a page's offset) are the class's own.
        expect(Object.getPrototypeOf(direct)).toBe(type.prototype);
      }
      // The common queries are read directly: the point of it.
      expect(read).toBeGreaterThanOrEqual(4);
    },
  );

  it('reads a gallery page as its DTO, defaults and offset included', () => {
    const dto = readPlainQuery(GalleryQueryDto, { page: '3', per_page: '10' }) as GalleryQueryDto;
    expect(dto).toBeInstanceOf(GalleryQueryDto);
    expect({ page: dto.page, per_page: dto.per_page, offset: dto.offset }).toEqual({
      page: 3,
      per_page: 10,
      offset: 20,
    });
    expect(readPlainQuery(GalleryQueryDto, {})).toMatchObject({ page: 1, per_page: 100 });
  });

  it.each([
    [RequiredInt, { page: '1' }],
    [WithEnum, { sort: 'a' }],
    [WithoutType, { page: '1' }],
    [Transformed, { name: 'a' }],
    [String, {}],
    [undefined, {}],
  ])('leaves a class of other rules to the pipe (%p)', (type, query) => {
    expect(readPlainQuery(type, query)).toBeUndefined();
  });
});
