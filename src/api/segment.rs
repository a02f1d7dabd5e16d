//! SegmentService.
use super::Api;
use super::convert::{self, Pager};
use super::crud::{Resource, Updating};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::segment::Segment;
use crate::proto;
use crate::proto::segment_service_server::SegmentService;
use tonic::{Request, Response, Status};

const SEGMENT: Resource = Resource {
    field: "segment",
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

#[tonic::async_trait]
impl SegmentService for Api {
    async fn create_segment(
        &self,
        request: Request<proto::CreateSegmentRequest>,
    ) -> Result<Response<proto::Segment>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.into_inner();
        let mut problems = Problems::default();
        let id = problems.or(
            convert::new_id(&req.segment_id, "segment_id", Collection::Segments),
            String::new(),
        );
        let request_id = problems.or(convert::request_id(&req.request_id), None);
        let msg = problems.required(req.segment, "segment");
        let spec = Segment {
            display_name: msg.display_name,
            rule: msg.rule,
        };
        problems.domain(spec.validate(), "segment");
        problems.finish()?;
        let stored = self
            .store
            .create_segment(&tenant.id, &id, &spec, request_id)
            .await
            .map_err(|e| ApiError::from_storage(e, "segment"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn get_segment(
        &self,
        request: Request<proto::GetSegmentRequest>,
    ) -> Result<Response<proto::Segment>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = SEGMENT.id(&request.get_ref().name)?;
        let stored = self
            .store
            .get_segment(&tenant.id, id)
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
        let page = self
            .store
            .list_segments(&tenant.id, pager.request())
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
        let req = request.into_inner();
        let msg = SEGMENT.required(req.segment)?;
        let mut problems = Problems::default();
        let Updating { id, mask, current } = SEGMENT
            .load_for_update(
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
                |id| self.store.get_segment(&tenant.id, id),
            )
            .await?;
        let mut spec = current.spec.clone();
        if mask.has("display_name") {
            spec.display_name = msg.display_name.clone();
        }
        if mask.has("rule") {
            spec.rule = msg.rule.clone();
        }
        spec.validate()
            .map_err(|e| ApiError::from_domain(e, "segment"))?;
        let stored = self
            .store
            .update_segment(&tenant.id, id, current.revision, &spec)
            .await
            .map_err(|e| ApiError::from_storage(e, "segment"))?;
        Ok(Response::new(to_proto(&stored)))
    }

    async fn delete_segment(
        &self,
        request: Request<proto::DeleteSegmentRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let req = request.get_ref();
        SEGMENT
            .delete((&req.name, &req.etag), |id, revision| {
                self.store.delete_segment(&tenant.id, id, revision)
            })
            .await
    }
}
