import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { MinRole, RequireScopes } from '../../auth/decorators';
import { Role, Scope } from '../../auth/roles';
import { ParseIdPipe } from '../../common/ids/parse-id.pipe';
import { CreatedLocation } from '../../common/http/created-location';
import { PageQueryDto } from '../../common/pagination/page.dto';
import { ApiProblems, PROBLEMS } from '../../openapi/problems';
import { RenditionRebuildDto, RenditionRebuildPageDto } from './rendition-rebuild.dto';
import { RebuildTrigger } from './rendition-rebuild.entity';
import { RenditionRebuildsService } from './rendition-rebuilds.service';

@ApiTags('renditions')
@Controller('renditions/rebuilds')
@MinRole(Role.Admin)
export class RenditionsController {
  constructor(private readonly rebuilds: RenditionRebuildsService) {}

  @Post()
  @HttpCode(202)
  @CreatedLocation()
  @RequireScopes(Scope.ImagesWrite)
  @ApiOperation({
    operationId: 'startRenditionRebuild',
    summary: 'Re-make renditions made with other presets than IMAGE_RENDITIONS',
    description:
      'Admins only. Starts a run that re-makes, in the background, the renditions of every ' +
      'image (of every organisation) made with other presets than the configured ones, and ' +
      'answers it: read its progress from `GET /renditions/rebuilds/{id}`, the `Location`. While a run for the ' +
      'same presets is under way, that run is answered instead of a new one (unless none of its ' +
      'jobs is left to run, its counts short of its total: it is then ended, the images it ' +
      'never counted counted `failed`, and a new run started). With none under way and no ' +
      'image to re-make, the newest run is answered when it is over for the same presets having ' +
      'found no image either (`completed`, `total` 0): no run of nothing is added at each ' +
      'request. Each image is ' +
      'swapped to its new renditions atomically; the old files are deleted after. Instances ' +
      'start such a run themselves when they start with changed presets.',
  })
  start(): Promise<RenditionRebuildDto> {
    return this.rebuilds.start(RebuildTrigger.Admin);
  }

  @Get()
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    operationId: 'listRenditionRebuilds',
    summary: 'Runs re-making renditions, newest first',
    description:
      'Admins only; paginated with `page` and `per_page`, with the total. The first is the run ' +
      'under way, if any (one started at start-up included).',
  })
  @ApiProblems(...PROBLEMS.validation)
  list(@Query() page: PageQueryDto): Promise<RenditionRebuildPageDto> {
    return this.rebuilds.list(page);
  }

  @Get(':id')
  @RequireScopes(Scope.ImagesRead)
  @ApiOperation({
    operationId: 'getRenditionRebuild',
    summary: 'Progress of a run re-making renditions',
    description:
      'Admins only. `done` and `failed` out of `total` images; `state` says whether it is ' +
      'still queueing images (`planning`), working through them (`running`), over ' +
      '(`completed`), or replaced by a run for newer presets (`superseded`).',
  })
  @ApiProblems('rendition_rebuild_not_found')
  get(@Param('id', ParseIdPipe) id: string): Promise<RenditionRebuildDto> {
    return this.rebuilds.get(id);
  }
}
