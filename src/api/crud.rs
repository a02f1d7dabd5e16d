//! The request mechanics the five resource services share (influencers, channels,
//! campaigns, segments, goals): names, request ids, the etag and field mask of an Update,
//! the etag of a Delete, each read into the use case's request types
//! ([`crate::engine::resources`]), and the steps around the one use-case call each of
//! their calls makes. What a resource's fields convert to, and which rules they must meet,
//! stays in its own handler (its `TryFrom` impls and `to_proto`).
use super::Api;
use super::convert::{self, Mask, Pager};
use super::error::{ApiError, Problems};
use crate::domain::Stored;
use crate::domain::names::Collection;
use crate::domain::tenant::Tenant;
use crate::engine::resources::{Checked, Create, Delete, ResourceError, Update};
use crate::storage::{Page, PageRequest, Store};
use tonic::{Request, Response, Status};

/// A resource as its service's requests name it.
pub struct Resource {
    /// The request field holding the resource (`influencer`), prefix of its violations.
    pub field: &'static str,
    /// The field of a Create request holding the new id (`influencer_id`).
    pub id_field: &'static str,
    /// The collection its names belong to.
    pub collection: Collection,
    /// The fields an Update may change.
    pub updatable: &'static [&'static str],
}

/// The target of an Update, read from its name, etag and mask.
pub struct Target {
    name: String,
    id: String,
    revision: Option<i64>,
    /// The fields to change.
    pub mask: Mask,
}

impl Resource {
    /// The id a Get or Delete request names in its `name` field.
    pub fn id<'a>(&self, name: &'a str) -> Result<&'a str, ApiError> {
        convert::parse_name(name, "name", self.collection)
    }

    /// The resource of a Create or Update request, which must be present.
    pub fn required<M>(&self, message: Option<M>) -> Result<M, ApiError> {
        message.ok_or_else(|| ApiError::invalid(self.field, "is required"))
    }

    /// Reads a Create's id and request id, recording their problems in `problems`.
    pub fn create_ids(
        &self,
        problems: &mut Problems,
        id: &str,
        request_id: &str,
    ) -> (String, Option<String>) {
        let id = problems.or(
            convert::new_id(id, self.id_field, self.collection),
            String::new(),
        );
        let request_id = problems.or(convert::request_id(request_id), None);
        (id, request_id.map(str::to_string))
    }

    /// A Create of `spec` with the problems recorded in `problems` held back.
    pub fn create<T>(
        &self,
        (id, request_id): (String, Option<String>),
        spec: T,
        problems: Problems,
    ) -> Result<Checked<Create<T>>, ApiError> {
        Ok(Checked {
            request: Create {
                id,
                request_id,
                spec,
            },
            invalid: problems.hold(self.field)?,
        })
    }

    /// Reads an Update's name, etag and mask, recording every problem of the three in
    /// `problems`; refused when any is bad, since the fields cannot be read without them.
    pub fn target(
        &self,
        problems: &mut Problems,
        (name, etag): (&str, &str),
        mask: Option<&prost_types::FieldMask>,
        set_fields: impl FnOnce() -> Vec<&'static str>,
    ) -> Result<Target, ApiError> {
        let target = convert::update_target(
            problems,
            self.field,
            self.collection,
            (name, etag),
            mask,
            self.updatable,
            set_fields,
        );
        let Some((id, revision, mask)) = target else {
            return Err(std::mem::take(problems).refuse());
        };
        Ok(Target {
            name: name.to_string(),
            id: id.to_string(),
            revision,
            mask,
        })
    }

    /// Reads an Update request: its resource message (required), and the target its
    /// name, etag and mask name (see [`Resource::target`]), with the problems found so far.
    pub fn updating<M>(
        &self,
        message: Option<M>,
        mask: Option<&prost_types::FieldMask>,
        name_and_etag: impl FnOnce(&M) -> (&str, &str),
        set_fields: impl FnOnce(&M) -> Vec<&'static str>,
    ) -> Result<(M, Target, Problems), ApiError> {
        let msg = self.required(message)?;
        let mut problems = Problems::default();
        let target = self.target(&mut problems, name_and_etag(&msg), mask, || {
            set_fields(&msg)
        })?;
        Ok((msg, target, problems))
    }

    /// An Update of `target` by `patch`, with the problems recorded in `problems` held
    /// back.
    pub fn update<P>(
        &self,
        target: Target,
        patch: P,
        problems: Problems,
    ) -> Result<Checked<Update<P>>, ApiError> {
        Ok(Checked {
            request: Update {
                name: target.name,
                id: target.id,
                revision: target.revision,
                patch,
            },
            invalid: problems.hold(self.field)?,
        })
    }

    /// Reads a Delete request's name and etag.
    pub fn delete(&self, name: &str, etag: &str) -> Result<Delete, ApiError> {
        Ok(Delete {
            id: self.id(name)?.to_string(),
            revision: convert::etag(etag, "etag")?,
        })
    }
}

/// The calls of a resource service, each around one call of its use case (`call`): the
/// tenant authenticated, the request read, the answer converted back by `to_proto`.
impl Api {
    /// A Create or an Update, read by the resource's own `TryFrom` of the request.
    pub(super) async fn write<Q, C, O, P>(
        &self,
        resource: &Resource,
        request: Request<Q>,
        call: impl AsyncFnOnce(&Store, &Tenant, C) -> Result<O, ResourceError>,
        to_proto: impl FnOnce(&O) -> P,
    ) -> Result<Response<P>, Status>
    where
        Q: TryInto<C, Error = ApiError>,
    {
        let tenant = self.tenant(&request).await?;
        let converted = request.into_inner().try_into()?;
        let written = call(&self.store, &tenant, converted)
            .await
            .map_err(|e| ApiError::from_resource(e, resource.field))?;
        Ok(Response::new(to_proto(&written)))
    }

    /// A Get of the resource its request names in `name`.
    pub(super) async fn read<Q, T, P>(
        &self,
        resource: &Resource,
        request: Request<Q>,
        name: impl FnOnce(&Q) -> &str,
        call: impl AsyncFnOnce(&Store, &Tenant, &str) -> Result<Stored<T>, ResourceError>,
        to_proto: impl FnOnce(&Stored<T>) -> P,
    ) -> Result<Response<P>, Status> {
        let tenant = self.tenant(&request).await?;
        let id = resource.id(name(request.get_ref()))?;
        let stored = call(&self.store, &tenant, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(to_proto(&stored)))
    }

    /// One page of a List with no filter: the request's page size and token, the
    /// resources converted and the next page's token.
    pub(super) async fn page<Q, T, P>(
        &self,
        request: Request<Q>,
        paging: impl FnOnce(&Q) -> (i32, &str),
        call: impl AsyncFnOnce(&Store, &Tenant, &PageRequest) -> Result<Page<Stored<T>>, ResourceError>,
        to_proto: impl FnMut(&Stored<T>) -> P,
    ) -> Result<(Vec<P>, String), Status> {
        let tenant = self.tenant(&request).await?;
        let (page_size, page_token) = paging(request.get_ref());
        let pager = Pager::new(page_size, page_token, &[])?;
        let page = call(&self.store, &tenant, pager.request())
            .await
            .map_err(ApiError::from)?;
        let next_page_token = pager.next_token(&page, page.items.last().map(|s| s.id.as_str()));
        Ok((page.items.iter().map(to_proto).collect(), next_page_token))
    }

    /// A Delete of the resource its request names, at the revision of its etag.
    pub(super) async fn remove<Q>(
        &self,
        resource: &Resource,
        request: Request<Q>,
        name_and_etag: impl FnOnce(&Q) -> (&str, &str),
        call: impl AsyncFnOnce(&Store, &Tenant, Delete) -> Result<(), ResourceError>,
    ) -> Result<Response<()>, Status> {
        let tenant = self.tenant(&request).await?;
        let (name, etag) = name_and_etag(request.get_ref());
        let delete = resource.delete(name, etag)?;
        call(&self.store, &tenant, delete)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(()))
    }
}

/// The service of a resource whose five calls are the standard ones (a List without
/// filters): each one use-case call of `$use_case` (`create`, `get`, `list`, `update`,
/// `delete`) through [`Api::write`], [`Api::read`], [`Api::page`] and [`Api::remove`],
/// with the handler's `$resource` and `to_proto`. The requests' conversion stays the
/// handler's: its `TryFrom` impls for the Create and Update requests. A service's further
/// calls follow the five as items of the same impl.
macro_rules! resource_service {
    (
        $service:ident for $resource:ident, $use_case:ident, $message:ident {
            $create:ident($create_request:ident),
            $get:ident($get_request:ident),
            $list:ident($list_request:ident) -> $list_response:ident { $items:ident },
            $update:ident($update_request:ident),
            $delete:ident($delete_request:ident) $(,)?
        }
        $($extra:tt)*
    ) => {
        #[tonic::async_trait]
        impl $service for Api {
            $($extra)*

            async fn $create(
                &self,
                request: tonic::Request<proto::$create_request>,
            ) -> Result<tonic::Response<proto::$message>, tonic::Status> {
                self.write(&$resource, request, $use_case::create, to_proto)
                    .await
            }

            async fn $get(
                &self,
                request: tonic::Request<proto::$get_request>,
            ) -> Result<tonic::Response<proto::$message>, tonic::Status> {
                self.read(
                    &$resource,
                    request,
                    |r| r.name.as_str(),
                    $use_case::get,
                    to_proto,
                )
                .await
            }

            async fn $list(
                &self,
                request: tonic::Request<proto::$list_request>,
            ) -> Result<tonic::Response<proto::$list_response>, tonic::Status> {
                let ($items, next_page_token) = self
                    .page(
                        request,
                        |r| (r.page_size, r.page_token.as_str()),
                        $use_case::list,
                        to_proto,
                    )
                    .await?;
                Ok(tonic::Response::new(proto::$list_response {
                    $items,
                    next_page_token,
                }))
            }

            async fn $update(
                &self,
                request: tonic::Request<proto::$update_request>,
            ) -> Result<tonic::Response<proto::$message>, tonic::Status> {
                self.write(&$resource, request, $use_case::update, to_proto)
                    .await
            }

            async fn $delete(
                &self,
                request: tonic::Request<proto::$delete_request>,
            ) -> Result<tonic::Response<()>, tonic::Status> {
                self.remove(
                    &$resource,
                    request,
                    |r| (r.name.as_str(), r.etag.as_str()),
                    $use_case::delete,
                )
                .await
            }
        }
    };
}
pub(super) use resource_service;
