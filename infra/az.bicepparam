// Parameters for a plain `az deployment group create` (azd uses main.parameters.json instead).
// Secrets are read from environment variables at deployment time, never from the command line:
//   export SENDBIRD_API_TOKEN=... SHOP_API_KEY=... QNA_API_KEY=...
//   export WEBCHAT_TOKEN_SECRET=$(openssl rand -base64 48) ADMIN_SECRET_KEY=$(openssl rand -base64 48)
//   export AGENT_API_TOKEN=$(openssl rand -hex 24)
//   az deployment group create -g "$RG" -f infra/main.bicep -p infra/az.bicepparam
using 'main.bicep'

param environmentName = readEnvironmentVariable('SWITCHBOARD_ENV', 'switchboard')
param sendbirdAppId = readEnvironmentVariable('SENDBIRD_APP_ID')
param sendbirdBotUserId = readEnvironmentVariable('SENDBIRD_BOT_USER_ID')
param shopApiUrl = readEnvironmentVariable('SHOP_API_URL')
param qnaEndpoint = readEnvironmentVariable('QNA_ENDPOINT')
param qnaProject = readEnvironmentVariable('QNA_PROJECT')

param sendbirdApiToken = readEnvironmentVariable('SENDBIRD_API_TOKEN')
param shopApiKey = readEnvironmentVariable('SHOP_API_KEY')
param qnaApiKey = readEnvironmentVariable('QNA_API_KEY')
param webchatTokenSecret = readEnvironmentVariable('WEBCHAT_TOKEN_SECRET')
param agentApiToken = readEnvironmentVariable('AGENT_API_TOKEN')
param adminSecretKey = readEnvironmentVariable('ADMIN_SECRET_KEY')
param notifyWebhookUrl = readEnvironmentVariable('NOTIFY_WEBHOOK_URL', '')

// Images pushed to the registry this template creates (`az acr build ...`); the placeholder until then.
param nluImage = readEnvironmentVariable('NLU_IMAGE', 'mcr.microsoft.com/k8se/quickstart:latest')
param adminImage = readEnvironmentVariable('ADMIN_IMAGE', 'mcr.microsoft.com/k8se/quickstart:latest')
param workerImage = readEnvironmentVariable('WORKER_IMAGE', 'mcr.microsoft.com/k8se/quickstart:latest')
