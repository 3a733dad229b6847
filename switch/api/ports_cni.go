package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vxswitch/vxswitch/encap"
)

// AttachRequest asks the daemon for a Pod port (POST /v1/attachments): a
// persistent TAP called IfName inside the network namespace Netns, attached
// to the switch as an access port of VNI. The CNI plugin sends it on ADD.
type AttachRequest struct {
	// ContainerID and IfName identify the attachment (CNI_CONTAINERID,
	// CNI_IFNAME); together they are unique on a node.
	ContainerID string `json:"container_id"`
	IfName      string `json:"ifname"`
	// Netns is the path of the Pod's network namespace (CNI_NETNS).
	Netns string `json:"netns"`
	// Network is the CNI network name; GC only touches attachments of its
	// own network.
	Network string `json:"network,omitempty"`
	// VNI is the segment the port joins (0 to 2^24-1).
	VNI uint32 `json:"vni"`
	// MAC is the port's address; the zero MAC lets the daemon derive a
	// stable one from ContainerID and IfName.
	MAC encap.MAC `json:"mac,omitzero"`
	// MTU is the link MTU; 0 means the daemon's overlay MTU.
	MTU int `json:"mtu,omitempty"`
}

// Attachment is a Pod port the daemon owns, as GET /v1/attachments and
// POST /v1/attachments report it.
type Attachment struct {
	ContainerID string `json:"container_id"`
	IfName      string `json:"ifname"`
	Netns       string `json:"netns"`
	Network     string `json:"network,omitempty"`
	VNI         uint32 `json:"vni"`
	// Port is the switch's name for the port ("vx" and a hash of
	// ContainerID and IfName), as GET /v1/ports and the FDB show it.
	Port    string    `json:"port"`
	MAC     encap.MAC `json:"mac"`
	MTU     int       `json:"mtu"`
	Created time.Time `json:"created"`
	// Attached is false for an attachment recorded in the state but not
	// (yet) re-adopted by the switch, for example because its netns is
	// gone; DEL or GC removes it.
	Attached bool `json:"attached"`
}

// Errors an AttachmentService returns; AttachmentsHandler maps them to HTTP
// statuses and Client methods return them wrapped in *Error (test with
// IsConflict, IsNotFound or the status code).
var (
	// ErrInvalidAttachment wraps every validation failure of an
	// AttachRequest (400).
	ErrInvalidAttachment = errors.New("invalid attachment")
	// ErrAttachmentExists means the (container, ifname) pair is attached
	// with different parameters, or the interface name is taken inside the
	// netns (409).
	ErrAttachmentExists = errors.New("attachment exists")
	// ErrNetnsNotFound means the netns path does not exist (404).
	ErrNetnsNotFound = errors.New("network namespace not found")
)

// AttachmentService creates and removes Pod ports. The daemon implements
// it; AttachmentsHandler serves it. Implementations must be safe for
// concurrent use.
type AttachmentService interface {
	// Attach creates the port (or returns the existing identical one).
	Attach(ctx context.Context, req AttachRequest) (Attachment, error)
	// Detach removes the port; a missing one is not an error.
	Detach(ctx context.Context, containerID, ifname string) error
	// Attachments lists the ports, ordered by container ID and ifname.
	Attachments() []Attachment
}

// AttachmentsHandler serves svc as /v1/attachments (GET, POST) and
// /v1/attachments/{container_id}/{ifname} (DELETE). Mount it on both
// patterns with Server.Handle.
func AttachmentsHandler(svc AttachmentService) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/attachments", methods{
		http.MethodGet: func(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
			out := svc.Attachments()
			if out == nil {
				out = []Attachment{}
			}
			return http.StatusOK, out, nil
		},
		http.MethodPost: func(_ http.ResponseWriter, r *http.Request) (int, any, error) {
			var req AttachRequest
			if err := decodeBody(r, &req); err != nil {
				return 0, nil, err
			}
			a, err := svc.Attach(r.Context(), req)
			if err != nil {
				return 0, nil, attachHTTPError(err)
			}
			return http.StatusCreated, a, nil
		},
	})
	mux.Handle("/v1/attachments/{cid}/{ifname}", methods{
		http.MethodDelete: func(_ http.ResponseWriter, r *http.Request) (int, any, error) {
			if err := svc.Detach(r.Context(), r.PathValue("cid"), r.PathValue("ifname")); err != nil {
				return 0, nil, attachHTTPError(err)
			}
			return http.StatusNoContent, nil, nil
		},
	})
	return mux
}

func attachHTTPError(err error) error {
	switch {
	case errors.Is(err, ErrInvalidAttachment):
		return badRequest(err.Error())
	case errors.Is(err, ErrAttachmentExists):
		return conflict(err.Error())
	case errors.Is(err, ErrNetnsNotFound):
		return notFound(err.Error())
	}
	return err
}

// IsConflict reports whether err is a 409 from the server.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusConflict
}

// Attach asks the daemon to create a Pod port and returns it.
func (c *Client) Attach(ctx context.Context, req AttachRequest) (Attachment, error) {
	var out Attachment
	err := c.do(ctx, http.MethodPost, "/v1/attachments", req, &out)
	return out, err
}

// Detach removes the Pod port of (containerID, ifname); removing a port
// that does not exist succeeds.
func (c *Client) Detach(ctx context.Context, containerID, ifname string) error {
	if containerID == "" || ifname == "" || strings.ContainsAny(containerID+ifname, "/") {
		return fmt.Errorf("api: detach %q/%q: container ID and ifname must be non-empty and without '/'", containerID, ifname)
	}
	return c.do(ctx, http.MethodDelete, "/v1/attachments/"+url.PathEscape(containerID)+"/"+url.PathEscape(ifname), nil, nil)
}

// Attachments lists the daemon's Pod ports.
func (c *Client) Attachments(ctx context.Context) ([]Attachment, error) {
	var out []Attachment
	err := c.do(ctx, http.MethodGet, "/v1/attachments", nil, &out)
	if out == nil && err == nil {
		out = []Attachment{}
	}
	return out, err
}
