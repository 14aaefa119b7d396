package packer

import (
	"fmt"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

func loadHCL(path string, o Options) (*recipe.Plan, error) {
	return nil, fmt.Errorf("%s: HCL2 templates are not supported yet", path)
}
