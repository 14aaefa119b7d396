package cloud

import (
	"context"
	"fmt"

	"github.com/digitalocean/godo"
)

// PerPage is how many resources one list request asks for (the API's most).
var PerPage = 200

// All follows a list's pages to the last one: a first page is not the list.
func All[T any](ctx context.Context, list func(*godo.ListOptions) ([]T, *godo.Response, error)) ([]T, error) {
	var all []T
	opt := &godo.ListOptions{PerPage: PerPage, Page: 1}
	for {
		items, resp, err := list(opt)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if resp == nil || resp.Links == nil || resp.Links.IsLastPage() {
			return all, nil
		}
		page, err := resp.Links.CurrentPage()
		if err != nil {
			return nil, fmt.Errorf("paging: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opt.Page = page + 1
	}
}
