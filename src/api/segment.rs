//! SegmentService.
use super::Api;
use super::convert::{self, Pager};
use super::crud::Resource;
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::segment::Segment;
use crate::engine::resources::segments::{self, SegmentPatch};
use crate::engine::resources::{Checked, Create, Update};
use crate::proto;
use crate::proto::segment_service_server::SegmentService;
use tonic::{Request, Response, Status};

const SEGMENT: Resource = Resource {
    field: "segment",
    id_field: "segment_id",
    collection: Collection::Segments,
    updatable: &["display_name", "rule"],
};

fn to_proto(stored: &Stored<Segment>) -> proto::Segment {
    let s = &stored.spec;
    proto::Segment {
        name: Collection::Segments.name(&stored.id),
        display_name: s.display_name.clone(),
        rule: s.rule.clone(),
        // Stored rules were parsed when written; a rule that no longer parses (a grammar
        // change) is shown without a canonical form rather than failing the read.
        canonical_rule: crate::domain::segment_rule::parse(&s.rule)
            .map(|r| r.to_string())
            .unwrap_or_default(),
        create_time: convert::timestamp(stored.create_time),
        update_time: convert::timestamp(stored.update_time),
        etag: stored.etag(),
    }
}

impl TryFrom<proto::CreateSegmentRequest> for Checked<Create<Segment>> {
    type Error = ApiError;

    fn try_from(req: proto::CreateSegmentRequest) -> Result<Self, ApiError> {
        let mut problems = Problems::default();
        let ids = SEGMENT.create_ids(&mut problems, &req.segment_id, &req.request_id);
        let msg = problems.required(req.segment, "segment");
        let spec = Segment {
            display_name: msg.display_name,
            rule: msg.rule,
        };
        SEGMENT.create(ids, spec, problems)
    }
}

impl TryFrom<proto::UpdateSegmentRequest> for Checked<Update<SegmentPatch>> {
    type Error = ApiError;

    fn try_from(req: proto::UpdateSegmentRequest) -> Result<Self, ApiError> {
        let msg = SEGMENT.required(req.segment)?;
        let mut problems = Problems::default();
        let target = SEGMENT.target(
            &mut problems,
            (&msg.name, &msg.etag),
            req.update_mask.as_ref(),
            || {
                [
                    ("display_name", !msg.display_name.is_empty()),
                    ("rule", !msg.rule.is_empty()),
                ]
                .into_iter()
                .filter_map(|(f, set)| set.then_some(f))
                .collect()
            },
        )?;
        let patch = SegmentPatch {
            display_name: target
                .mask
                .has("display_name")
                .then(|| msg.display_name.clone()),
            rule: target.mask.has("rule").then(|| msg.rule.clone()),
        };
        SEGMENT.update(target, patch, problems)
    }
}

#[tonic::async_trait]
impl SegmentService for Api {
    async fn create_segment(
        &self,
        request: Request<proto::CreateSegmentRequest>,
    ) -> Result<Response<proto::Segment>, Status> {
        let tenant = self.tenant(&request).await?;
        let create = request.into_inner().try_into()?;
        let stored = segments::create(&self.store, &tenant, create)
            .await
            .map_err(|e| ApiError::from_resource(e, SEGMENT.field))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn get_segment(
        &self,
        request: Request<proto::GetSegmentRequest>,
    ) -> Result<Response<proto::Segment>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = SEGMENT.id(&request.get_ref().name)?;
        let stored = segments::get(&self.store, &tenant, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn list_segments(
        &self,
        request: Request<proto::ListSegmentsRequest>,
    ) -> Result<Response<proto::ListSegmentsResponse>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let pager = Pager::new(req.page_size, &req.page_token, &[])?;
        let page = segments::list(&self.store, &tenant, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|s| s.id.as_str()));
        Ok(Response::new(proto::ListSegmentsResponse {
            segments: page.items.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_segment(
        &self,
        request: Request<proto::UpdateSegmentRequest>,
    ) -> Result<Response<proto::Segment>, Status> {
        let tenant = self.tenant(&request).await?;
        let update = request.into_inner().try_into()?;
        let stored = segments::update(&self.store, &tenant, update)
            .await
            .map_err(|e| ApiError::from_resource(e, SEGMENT.field))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn delete_segment(
        &self,
        request: Request<proto::DeleteSegmentRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        let delete = SEGMENT.delete(&req.name, &req.etag)?;
        segments::delete(&self.store, &tenant, delete)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(()))
    }
}
