// Parameters for a plain `az deployment group create` (azd uses main.parameters.json instead).
// Secrets are read from environment variables at deployment time, never from the command line, and only
// a non-empty one is written: give them on the first deployment, leave them unset afterwards (a set one
// would overwrite a rotated secret). docs/deploying.md, "Without azd", has the whole sequence:
//   export SENDBIRD_API_TOKEN=... SHOP_API_KEY=... QNA_API_KEY=...
//   export WEBCHAT_TOKEN_SECRET=$(openssl rand -hex 24) ADMIN_SECRET_KEY=$(openssl rand -hex 24)
//   export AGENT_API_TOKEN=$(openssl rand -hex 24) NLU_API_KEY=$(openssl rand -hex 24) NLU_API_KEYS=$NLU_API_KEY
//   az deployment group create -g "$RG" -f infra/main.bicep -p infra/az.bicepparam
using 'main.bicep'

param environmentName = readEnvironmentVariable('SWITCHBOARD_ENV', 'switchboard')
param sendbirdAppId = readEnvironmentVariable('SENDBIRD_APP_ID')
param sendbirdBotUserId = readEnvironmentVariable('SENDBIRD_BOT_USER_ID')
param shopApiUrl = readEnvironmentVariable('SHOP_API_URL')
param qnaEndpoint = readEnvironmentVariable('QNA_ENDPOINT')
param qnaProject = readEnvironmentVariable('QNA_PROJECT')

param principalId = readEnvironmentVariable('DEPLOYER_PRINCIPAL_ID', '')
param principalType = readEnvironmentVariable('DEPLOYER_PRINCIPAL_TYPE', 'User')

param sendbirdApiToken = readEnvironmentVariable('SENDBIRD_API_TOKEN', '')
param shopApiKey = readEnvironmentVariable('SHOP_API_KEY', '')
param qnaApiKey = readEnvironmentVariable('QNA_API_KEY', '')
param webchatTokenSecret = readEnvironmentVariable('WEBCHAT_TOKEN_SECRET', '')
param agentApiToken = readEnvironmentVariable('AGENT_API_TOKEN', '')
param adminSecretKey = readEnvironmentVariable('ADMIN_SECRET_KEY', '')
param nluApiKey = readEnvironmentVariable('NLU_API_KEY', '')
param nluApiKeys = readEnvironmentVariable('NLU_API_KEYS', '')
param notifyWebhookUrl = readEnvironmentVariable('NOTIFY_WEBHOOK_URL', '')
param notifyWebhookInVault = bool(readEnvironmentVariable('NOTIFY_WEBHOOK_IN_VAULT', 'false'))
